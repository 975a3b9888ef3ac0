from pqdrop.commands import main

raise SystemExit(main())
