"""kingems-ray: enzyme-constrained GEMs with machine-learned kinetics, at microbiome scale on Ray."""

__version__ = "0.1.0"
