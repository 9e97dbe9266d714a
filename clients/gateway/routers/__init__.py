"""The gateway's API, one router per concern; ``create_app`` includes them in order."""
