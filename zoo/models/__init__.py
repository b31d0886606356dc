"""Our own model definitions, one package per framework, for what its libraries lack."""
