"""The command line: entryscan's subcommands (run, decode, check, journal, selftest, issuer, wipe/provision, ...).

The top wing: may import everything, including the composition root (builder, daemon) (rank 6).
"""
