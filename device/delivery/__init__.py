"""Delivery: the durable journal, the MQTT publisher and its link, inbox, commands, discovery, list sync and topics.

May import access, hardware, config and the root's shared modules, never scan or the command line (rank 3).
"""
