// The LIBRA status page: reads snapshots from /api/stream (server-sent events) and sends
// operator actions to the control API. Every value from the server is inserted with
// textContent: ids, symbols and log lines may hold markup, and must stay text.
"use strict";

(() => {
  const TOKEN_KEY = "libra.control-token";
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  let serverOffset = 0; // server clock minus ours, in ms, from each snapshot
  let latest = null;
  let source = null;

  // -- formatting -----------------------------------------------------------------------

  function now() {
    return Date.now() + serverOffset;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60), r = s % 60;
    if (d) return `${d} d ${h} h`;
    if (h) return `${h} h ${String(m).padStart(2, "0")} m`;
    if (m) return `${m} m ${String(r).padStart(2, "0")} s`;
    return `${r} s`;
  }

  function age(iso) {
    if (!iso) return "never";
    const ms = now() - Date.parse(iso);
    if (Number.isNaN(ms)) return "?";
    return ms < 1500 ? "just now" : `${duration(ms / 1000)} ago`;
  }

  function plain(number) {
    return Number.isFinite(number)
      ? number.toLocaleString("en-US", { maximumFractionDigits: 2 }) : "";
  }

  // -- building DOM as text -------------------------------------------------------------

  function node(tag, text, className) {
    const element = document.createElement(tag);
    if (text !== undefined && text !== null) element.textContent = String(text);
    if (className) element.className = className;
    return element;
  }

  function setText(id, text, className) {
    const element = $(id);
    element.textContent = text === undefined || text === null ? "" : String(text);
    if (className !== undefined) element.className = className;
  }

  // columns: [value(row) -> text | Node, className(row) -> string]
  function fillTable(id, rows, columns, emptyText) {
    const body = $(id).tBodies[0];
    const out = rows.map((row) => {
      const tr = document.createElement("tr");
      for (const [value, className] of columns) {
        const content = value(row);
        const td = content instanceof Node ? node("td") : node("td", content);
        if (content instanceof Node) td.append(content);
        const cls = className ? className(row) : "";
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    });
    if (!out.length) {
      const tr = document.createElement("tr");
      const td = node("td", emptyText, "empty");
      td.colSpan = columns.length;
      tr.append(td);
      out.push(tr);
    }
    body.replaceChildren(...out);
  }

  const num = () => "num";
  const signed = (key) => (row) => (String(row[key]).startsWith("-") ? "num neg" : "num");
  const side = (row) => `side-${row.side}`;

  function stateClass(state) {
    if (["running", "active", "connected", "fresh", "ready", "live"].includes(state)) {
      return "ok";
    }
    if (["reducing", "starting", "stopping", "created", "stale", "connecting"].includes(state)) {
      return "warn";
    }
    return "bad";
  }

  // -- rendering a snapshot -------------------------------------------------------------

  function render(snap) {
    latest = snap;
    if (snap.server_time) serverOffset = Date.parse(snap.server_time) - Date.now();
    const k = snap.kernel;
    setText("kernel-name", k.name);
    setText("environment", k.environment);
    setText("kernel-state", k.state.toUpperCase(), `badge ${stateClass(k.state)}`);
    const trading = snap.risk.trading_state;
    setText("trading-state", `TRADING ${trading.toUpperCase()}`, `badge ${stateClass(trading)}`);
    setText("readiness", k.ready ? "READY" : "NOT READY", `badge ${k.ready ? "ok" : "bad"}`);
    setText("started-at", k.started_at ? k.started_at.replace("T", " ") : "not yet");
    $("not-ready").replaceChildren(...k.not_ready.map((why) => node("li", why)));
    renderRisk(snap.risk);
    renderGateways(snap.gateways);
    renderStrategies(snap.strategies);
    renderEquity(snap.equity);
    renderTables(snap);
    renderProblems(snap.problems);
    tick();
  }

  function renderRisk(risk) {
    setText("risk-state", risk.trading_state.toUpperCase(), `state-${stateClass(risk.trading_state)}`);
    setText("risk-pnl", risk.pnl, risk.pnl.startsWith("-") ? "neg" : "");
    const counts = Object.entries(risk.orders).map(([kind, n]) => `${kind} ${n}`);
    setText("risk-orders", counts.join(", ") || "none");
    const denials = Object.entries(risk.denials).map(([rule, n]) => `${rule} ${n}`);
    setText("risk-denials", denials.join(", ") || "none");
    const paused = Object.entries(risk.paused).map(([id, why]) => `${id} (${why})`);
    setText("risk-paused", paused.join(", ") || "none");
  }

  function renderGateways(gateways) {
    fillTable("gateways", gateways, [
      [(g) => g.id],
      [(g) => (g.connected ? "connected" : "DISCONNECTED"),
        (g) => `state-${g.connected ? "ok" : "bad"}`],
      [(g) => {
        const span = node("span", age(g.last_data_at), "age");
        span.dataset.at = g.last_data_at || "";
        return span;
      }],
      [(g) => (g.ended ? "ended" : g.stale ? "STALE" : g.last_data_at ? "fresh" : "not measured"),
        (g) => `state-${g.ended || g.stale ? "bad" : "ok"}`],
    ], "no gateway");
  }

  function strategyButtons(s) {
    const box = node("span", null, "buttons");
    const add = (label, action, question) => {
      const button = node("button", label, "small");
      button.type = "button";
      button.addEventListener("click", () => act(`${label} ${s.id}`,
        `/api/strategies/${encodeURIComponent(s.id)}/${action}`, question));
      box.append(button);
    };
    if (s.state === "running") {
      add("Stop", "stop", `Stop strategy "${s.id}"? It stops taking data and placing orders; ` +
        "its open orders and positions stay.");
    } else {
      add("Start", "start", `Start strategy "${s.id}" again? Its initialize() runs again.`);
    }
    if (s.paused) {
      add("Resume", "resume", `Let strategy "${s.id}" place orders again? ` +
        `It was paused: ${s.paused}.`);
    }
    return box;
  }

  function renderStrategies(strategies) {
    fillTable("strategies", strategies, [
      [(s) => s.id],
      [(s) => s.state, (s) => `state-${stateClass(s.state)}`],
      [(s) => s.gateway],
      [(s) => s.events.toLocaleString("en-US"), num],
      [(s) => s.inbox.toLocaleString("en-US"), num],
      [(s) => s.dropped.toLocaleString("en-US"), num],
      [(s) => s.errors.toLocaleString("en-US"), (s) => (s.errors ? "num neg" : "num")],
      [(s) => s.paused || "no", (s) => (s.paused ? "state-bad" : "")],
      [strategyButtons],
    ], "no strategy");
  }

  function renderTables(snap) {
    fillTable("positions", snap.positions, [
      [(p) => p.strategy_id], [(p) => p.symbol], [(p) => p.side, side],
      [(p) => p.quantity, num], [(p) => p.avg_entry_price, num], [(p) => p.mark_price, num],
      [(p) => `${p.unrealized_pnl} ${p.quote}`, signed("unrealized_pnl")],
      [(p) => `${p.realized_pnl} ${p.quote}`, signed("realized_pnl")],
      [(p) => `${p.fees} ${p.quote}`, num],
    ], "no open position");
    fillTable("balances", snap.balances, [
      [(b) => b.account], [(b) => b.currency], [(b) => b.amount, num], [(b) => b.equity, num],
    ], "no balance");
    const open = snap.open_orders;
    setText("open-orders-total", open.total > open.rows.length
      ? `(${open.rows.length} newest of ${open.total})` : `(${open.total})`);
    fillTable("open-orders", open.rows, [
      [(o) => age(o.created_at)], [(o) => o.strategy_id], [(o) => o.symbol],
      [(o) => o.side, side], [(o) => o.type], [(o) => o.quantity, num], [(o) => o.filled, num],
      [(o) => o.price || "market", num], [(o) => o.status], [(o) => o.client_order_id],
    ], "no open order");
    setText("fills-count", `(${snap.fills.length} newest)`);
    fillTable("fills", snap.fills, [
      [(f) => (f.ts ? f.ts.replace("T", " ").replace("Z", "") : "")], [(f) => f.strategy_id],
      [(f) => f.symbol], [(f) => f.side, side], [(f) => f.quantity, num], [(f) => f.price, num],
      [(f) => `${f.fee} ${f.fee_currency}`, num], [(f) => f.liquidity],
      [(f) => f.client_order_id],
    ], "no fill since the page's daemon started");
  }

  function renderProblems(problems) {
    const items = problems.map((p) => {
      const li = node("li");
      li.append(node("span", p.level, `level ${p.level}`));
      li.append(node("span", p.ts ? p.ts.replace("T", " ").replace("Z", "") : "", "when"));
      li.append(node("span", p.event, "event"));
      const fields = Object.entries(p.fields).map(([key, value]) => `${key}=${value}`);
      if (fields.length) li.append(node("span", fields.join(" "), "fields"));
      return li;
    });
    if (!items.length) items.push(node("li", "No warning or error since start.", "empty"));
    $("problems").replaceChildren(...items);
  }

  function svg(tag, attributes) {
    const element = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    return element;
  }

  function renderEquity(series) {
    const charts = Object.entries(series).map(([name, points]) => {
      const box = node("div", null, "chart");
      const values = points.map((p) => p[1]);
      const low = Math.min(...values), high = Math.max(...values);
      const head = node("div", null, "chart-head");
      head.append(node("strong", name));
      head.append(node("span", `now ${plain(values[values.length - 1])}`));
      head.append(node("span", `low ${plain(low)}, high ${plain(high)}`));
      const span = points.length > 1 ? points[points.length - 1][0] - points[0][0] : 0;
      head.append(node("span", `over ${duration(span)}`));
      const chart = svg("svg", { viewBox: "0 0 1000 100", preserveAspectRatio: "none",
        role: "img", "aria-label": `equity of ${name}` });
      chart.append(svg("line", { x1: 0, y1: 50, x2: 1000, y2: 50, class: "grid" }));
      const t0 = points[0][0], width = span || 1, height = high - low || 1;
      const coordinates = points.map(([t, v]) =>
        `${((t - t0) / width * 1000).toFixed(1)},${(96 - (v - low) / height * 92).toFixed(1)}`);
      if (coordinates.length === 1) coordinates.push(`1000,${coordinates[0].split(",")[1]}`);
      chart.append(svg("polyline", { points: coordinates.join(" ") }));
      box.append(head, chart);
      return box;
    });
    if (!charts.length) charts.push(node("p", "No sample yet.", "meta"));
    $("equity").replaceChildren(...charts);
  }

  // The ages and uptime move every second, between snapshots too.
  function tick() {
    if (!latest) return;
    const started = latest.kernel.started_at;
    setText("uptime", started ? duration((now() - Date.parse(started)) / 1000) : "not started");
    setText("updated", age(latest.server_time));
    $("gateways").querySelectorAll("span.age").forEach((span) => {
      span.textContent = age(span.dataset.at);
    });
  }

  // -- the stream -----------------------------------------------------------------------

  function connect() {
    setText("stream-state", "CONNECTING", "badge warn");
    source = new EventSource("/api/stream");
    source.addEventListener("snapshot", (event) => {
      setText("stream-state", "LIVE", "badge ok");
      render(JSON.parse(event.data));
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (the stream limit) or the daemon went away: try again in a while.
        setText("stream-state", "OFFLINE, retrying", "badge bad");
        setTimeout(connect, 5000);
      } else {
        setText("stream-state", "RECONNECTING", "badge warn");
      }
    });
  }

  // -- actions --------------------------------------------------------------------------

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function showToken() {
    const set = Boolean(token());
    setText("token-state", set ? "set for this tab" : "not set (asked at the first action)");
    $("token-forget").hidden = !set;
  }

  function confirmAction(question) {
    const dialog = $("confirm");
    const needToken = !token();
    setText("confirm-text", question);
    $("confirm-token").hidden = !needToken;
    $("token-input").value = "";
    return new Promise((resolve) => {
      const finish = (yes) => {
        $("confirm-yes").removeEventListener("click", onYes);
        $("confirm-no").removeEventListener("click", onNo);
        dialog.removeEventListener("cancel", onNo);
        if (dialog.open) dialog.close();
        resolve(yes);
      };
      const onYes = () => {
        if (needToken) {
          const given = $("token-input").value.trim();
          if (!given) {
            $("token-input").focus();
            return;
          }
          sessionStorage.setItem(TOKEN_KEY, given);
          showToken();
        }
        finish(true);
      };
      const onNo = () => finish(false);
      $("confirm-yes").addEventListener("click", onYes);
      $("confirm-no").addEventListener("click", onNo);
      dialog.addEventListener("cancel", onNo);
      dialog.showModal();
      (needToken ? $("token-input") : $("confirm-no")).focus();
    });
  }

  function summary(body) {
    const parts = [];
    if (body.trading_state) {
      parts.push(`trading ${body.trading_state}` + (body.previous ? ` (was ${body.previous})` : ""));
    }
    if (body.state) parts.push(`state ${body.state}`);
    if (body.cancel_requested !== undefined) parts.push(`cancels sent ${body.cancel_requested}`);
    if (body.canceled !== undefined) parts.push(`canceled ${body.canceled}`);
    if (body.still_open && body.still_open.length) {
      parts.push(`still open ${body.still_open.length}`);
    }
    if (body.close_orders) parts.push(`close orders ${body.close_orders.length}`);
    if (body.positions_left && body.positions_left.length) {
      parts.push(`positions left ${body.positions_left.length}`);
    }
    if (body.changed === false) parts.push("nothing to change");
    return parts.join(", ");
  }

  function showResult(kind, text) {
    setText("action-result", text, `result ${kind}`);
  }

  async function act(label, path, question) {
    if (!(await confirmAction(question))) return;
    showResult("pending", `${label}: sending…`);
    let response;
    try {
      response = await fetch(path, { method: "POST", cache: "no-store", credentials: "omit",
        headers: { Authorization: `Bearer ${token()}` } });
    } catch (error) {
      showResult("fail", `${label}: FAILED, no answer from the daemon`);
      return;
    }
    let body = {};
    try {
      body = await response.json();
    } catch (error) {
      body = {};
    }
    const why = body.error || "";
    if (response.status === 200) {
      showResult("ok", `${label}: done. ${summary(body)}`);
    } else if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY); // ask again at the next action
      showToken();
      showResult("fail", `${label}: REFUSED (401 ${why || "wrong token"}). ` +
        "Nothing was done; enter the token again.");
    } else if (response.status === 403) {
      showResult("fail", `${label}: REFUSED (403): the control API is disabled on this ` +
        "daemon (no http.token configured). Nothing was done.");
    } else if (response.status === 409) {
      showResult("fail", `${label}: FAILED, INCOMPLETE (409): ${summary(body)}`);
    } else {
      showResult("fail", `${label}: FAILED (HTTP ${response.status}) ${why}`);
    }
  }

  const QUESTIONS = {
    halt: "Halt trading? Every new order is denied until you resume.",
    reduce: "Switch to reduce-only? Orders that would grow a position are denied.",
    resume: "Resume trading? Strategies may open positions again.",
    "cancel-all": "Cancel every open order on every gateway?",
    flatten: "Flatten? Every open order is canceled and every position closed at market.",
  };

  function setUp() {
    for (const button of document.querySelectorAll("button[data-action]")) {
      const action = button.dataset.action;
      button.addEventListener("click", () =>
        act(button.textContent, `/api/control/${action}`, QUESTIONS[action]));
    }
    $("token-forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showToken();
    });
    showToken();
    connect();
    setInterval(tick, 1000);
  }

  setUp();
})();
