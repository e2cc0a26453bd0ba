"""Model conversion (MediaPipe tflite -> ONNX), the model registry and session creation."""
