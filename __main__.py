from facewarp.cli import main

raise SystemExit(main())
