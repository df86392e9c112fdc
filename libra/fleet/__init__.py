"""A fleet of daemons over NATS JetStream: one view of many daemons, one kill switch.

``protocol`` (subjects, payloads, signed commands; no NATS import), ``publisher`` (the
bounded buffer trading never waits for), ``service`` (``FleetService``, built by
``libra run`` only when the config has ``[fleet]``), ``client`` (what ``libra fleet``
and a program of the desk's own use to read the fleet and send it commands).
docs/fleet.md describes the whole.
"""
