"""The simulated lab: a virtual Qblox cluster that executes compiled programs."""
