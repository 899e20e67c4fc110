"""Committee maps (Folium): self-hosted assets, context-aware escaping, layers, the overview and case maps."""
