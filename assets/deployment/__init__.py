"""Registration of model versions, and (later) their publication to the clients."""
