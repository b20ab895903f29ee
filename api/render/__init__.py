"""What Reclaim draws for people: the reports page, SVG charts, calendars, the dossier
PDF, and the case book's templates and stylesheet."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the case book's Jinja2 templates
TEMPLATE_DIR = HERE / "templates"
#: served under /static
STATIC_DIR = HERE / "static"
