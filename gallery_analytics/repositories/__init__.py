"""Entity repositories: one module per entity, each working inside a session it is given."""

from gallery_analytics.repositories.artists import ArtistRepository
from gallery_analytics.repositories.artworks import ArtworkRepository
from gallery_analytics.repositories.exhibitions import ExhibitionRepository
from gallery_analytics.repositories.users import UserRepository

__all__ = ["ArtistRepository", "ArtworkRepository", "ExhibitionRepository", "UserRepository"]
