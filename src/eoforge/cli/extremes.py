"""``eoforge extremes``: regionalisation of precipitation extremes."""

from eoforge.cli._common import planned_app

app = planned_app("extremes", 3, "RFA-madogram regionalisation of precipitation extremes")
