"""Identity adapters: verification of OpenID Connect bearer tokens against their issuers' keys."""
