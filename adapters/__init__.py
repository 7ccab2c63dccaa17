"""Ways in and out of the hub: transports (memory, AMQP), files, HTTP."""
