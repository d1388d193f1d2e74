"""The writeup of a fetched run: Markdown per host and an index, with SVG plots (controller only:
needs Jinja2 and matplotlib). model.py computes, templates format, plots.py draws, render.py writes."""
