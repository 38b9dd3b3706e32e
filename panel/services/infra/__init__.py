"""The data center's infrastructure: hosts and their agents, allocation, DNS zones, subdomains, IP pools."""
