"""The browser client's image classifier: data, training, export wrapper."""
