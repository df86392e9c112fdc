"""One lifecycle for everything the kernel owns.

``BaseComponent`` implements the transition table once; subclasses provide the
``_on_start`` / ``_on_stop`` / ``_on_dispose`` hooks. A start that raises leaves
the component FAILED (a state the kernel can act on) and re-raises.
"""

from __future__ import annotations

import enum
from typing import Protocol

import structlog

from libra.core.errors import LifecycleError


class ComponentState(enum.StrEnum):
    """Where a component is in its life; equal to its plain string value (``"running"``)."""

    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    DISPOSED = "disposed"


_ALLOWED: dict[ComponentState, frozenset[ComponentState]] = {
    ComponentState.CREATED: frozenset({ComponentState.STARTING, ComponentState.DISPOSED}),
    ComponentState.STARTING: frozenset({ComponentState.RUNNING, ComponentState.FAILED}),
    ComponentState.RUNNING: frozenset({ComponentState.STOPPING, ComponentState.FAILED}),
    ComponentState.STOPPING: frozenset({ComponentState.STOPPED, ComponentState.FAILED}),
    ComponentState.STOPPED: frozenset({ComponentState.STARTING, ComponentState.DISPOSED}),
    ComponentState.FAILED: frozenset({ComponentState.STOPPING, ComponentState.DISPOSED}),
    ComponentState.DISPOSED: frozenset(),
}


class Component(Protocol):
    name: str

    @property
    def state(self) -> ComponentState: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def dispose(self) -> None: ...


class BaseComponent:
    """Guarded lifecycle with template hooks. ``start``/``stop``/``dispose``: do not override."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._state = ComponentState.CREATED
        self._log = structlog.get_logger("libra.component").bind(component=name)

    @property
    def state(self) -> ComponentState:
        return self._state

    @property
    def is_running(self) -> bool:
        return self._state is ComponentState.RUNNING

    def _transition(self, to_state: ComponentState) -> None:
        if to_state not in _ALLOWED[self._state]:
            raise LifecycleError(
                f"{self.name}: cannot go from {self._state.value} to {to_state.value}"
            )
        from_state, self._state = self._state, to_state
        self._log.debug(
            "component.state_changed", from_state=from_state.value, to_state=to_state.value
        )

    async def start(self) -> None:
        """Start the component: CREATED/STOPPED -> STARTING -> RUNNING (or FAILED)."""
        self._transition(ComponentState.STARTING)
        try:
            await self._on_start()
        except BaseException:
            self._transition(ComponentState.FAILED)
            raise
        self._transition(ComponentState.RUNNING)

    async def stop(self) -> None:
        """Stop the component; a no-op unless it is RUNNING or FAILED."""
        if self._state not in (ComponentState.RUNNING, ComponentState.FAILED):
            return
        self._transition(ComponentState.STOPPING)
        try:
            await self._on_stop()
        except BaseException:
            self._transition(ComponentState.FAILED)
            raise
        self._transition(ComponentState.STOPPED)

    async def dispose(self) -> None:
        """Release resources for good; idempotent."""
        if self._state is ComponentState.DISPOSED:
            return
        if self._state in (ComponentState.RUNNING, ComponentState.FAILED):
            await self.stop()
        await self._on_dispose()
        self._state = ComponentState.DISPOSED

    async def _on_start(self) -> None:
        """Hook: acquire resources and start tasks."""

    async def _on_stop(self) -> None:
        """Hook: stop tasks and release what start acquired."""

    async def _on_dispose(self) -> None:
        """Hook: release what the constructor acquired."""
