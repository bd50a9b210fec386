"""The API's routers, one module per area; each route hands its session or Database to a
service and returns the service's DTOs."""
