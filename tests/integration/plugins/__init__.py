"""A package so that the ``installed_plugins`` fixture (package scope) is torn down here."""
