"""The app's settings object, read from the environment (a .env file in real life); env.py reads it too."""
import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=lambda: os.environ.get("SHOP_DATABASE_URL",
                                                                     "postgresql+asyncpg://localhost/shop"))


settings = Settings()
