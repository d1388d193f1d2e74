"""EC2 provisioning and teardown against a moto server on loopback."""
