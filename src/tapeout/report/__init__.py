"""Reports: plotly figures and one self-contained HTML page per study."""
