"""The service: control socket, jobs, configuration, logging and the command line."""
