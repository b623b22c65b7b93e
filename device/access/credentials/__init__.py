"""Credential verifiers, one module per credential type, each behind the CredentialVerifier port."""
