from __future__ import annotations

from newsletter.cli import main

if __name__ == "__main__":  # A spawned worker process imports this module again.
    main()
