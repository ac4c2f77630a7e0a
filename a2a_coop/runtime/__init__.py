"""A running agent: the core plus the world (wall clock, OS randomness, files, SQLite, the network).

:mod:`.strategy` is the deciding layer's interface (it only proposes);
:mod:`.peer` puts a strategy behind the policy guard and a journal;
:mod:`.journal` is the SQLite write-ahead journal; :mod:`.keyfile` reads and
writes key files; :mod:`.node` hosts a peer or an escrow as a gRPC handler;
:mod:`.trade` drives a trade from the initiating side over gRPC clients.
"""
