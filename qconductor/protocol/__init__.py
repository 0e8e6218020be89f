"""What crosses a process boundary: schedules, hardware configs, messages, the codec, the client.

Imports no hardware package.
"""
