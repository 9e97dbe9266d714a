"""The Pi client's anomaly detector: sensor data, features, autoencoder, export wrapper."""
