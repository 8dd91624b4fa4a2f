from emergent.cli import main

if __name__ == "__main__":  # vLLM's worker processes re-import the main module
    main()
