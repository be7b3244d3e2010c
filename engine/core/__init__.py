"""The document core: layers, tiles, compositing (with the Laplacian pyramid its
spline mode and the splining effect share), history, selection, transforms,
levels of detail. Imports nothing from the runtime but its errors, and no feature."""
