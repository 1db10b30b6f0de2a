"""The backup store: where backups' chunks and manifests live."""
