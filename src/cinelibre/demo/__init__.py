"""The bundled demo catalog and a deterministic generator of demo users and ratings."""
