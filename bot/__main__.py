"""``python -m bot``: the command line, and how App Service starts the server.

The collector gets the server's thresholds before anything is imported: start-up builds
some 100,000 objects that live as long as the process (modules, classes, models), and
with the default thresholds they were traversed by some 230 passes on the way, about a
tenth of a cold start's CPU, for nothing to free.
"""

from bot.web.runtime import collect_rarely

collect_rarely()

from bot.cli import main  # noqa: E402  (imported with the collector tuned)

raise SystemExit(main())
