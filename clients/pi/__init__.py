"""The edge side: a simulated turbine fleet and (later) the agent. numpy and onnxruntime only."""
