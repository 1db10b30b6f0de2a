"""Clients of a real cloud's services (Keystone, Glance) for a joined cinderlite.

Only the domain is imported from here; the services and the image store use these.
"""
