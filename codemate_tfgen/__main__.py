from codemate_tfgen.cli import main

main()
