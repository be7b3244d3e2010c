"""Eyes: a procedural eye renderer, eye localisation and gaze redirection."""
