"""The core's own operators, sensors and notifiers, registered through the same hooks as plugins."""
