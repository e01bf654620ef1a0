"""Posting one balanced entry, as one module tree read top to bottom:

    post.py         the orchestration: entry_post (validate, the one-statement
                    posting, else claim -> decide -> write -> respond) and
                    entry_write (the write holds and reversals share)
    rules.py        what a posting must satisfy: lines, accounts, policies
    claim.py        the full path's read: the key's claim and the accounts
    statements.py   every SQL statement the above send, named and explained
    presenters.py   the rows as stored and the answer

Callers import entry_post and entry_write from post.py, LineSpec from rules.py.
Nothing is imported here, so ledger.posting.statements loads on its own.
"""
