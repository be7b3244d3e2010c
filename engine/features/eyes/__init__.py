"""Eyes: gaze redirection and attribute sliders, with the procedural eye renderer
they train on, eye detection and landmarks, their networks, training and benchmarks."""
