"""AWS itself: connecting, the gateway, retries, partitions, errors translated."""
