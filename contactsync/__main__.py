from contactsync.cli import main

main()
