"""Microsoft Teams: the bot, the tab and the sideloadable app package."""
