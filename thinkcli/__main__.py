from thinkcli.cli import main

if __name__ == "__main__":  # not on import (doctest collection imports every module)
    main()
