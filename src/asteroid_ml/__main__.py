"""``python -m asteroid_ml`` is the same as the ``asteroid-ml`` console script."""

from asteroid_ml.cli import main

raise SystemExit(main())
