#include "EmoRigSourceFactory.h"

#include "EmoRigModule.h"
#include "EmoRigSource.h"
#include "Widgets/SWidget.h"

#define LOCTEXT_NAMESPACE "EmoRigSourceFactory"

FText UEmoRigSourceFactory::GetSourceDisplayName() const
{
	return LOCTEXT("DisplayName", "EmoRig Source");
}

FText UEmoRigSourceFactory::GetSourceTooltip() const
{
	return LOCTEXT("Tooltip", "Receives emorig's speech-driven face animation over UDP (emorig stream --sink osc://HOST:PORT, or livelinkface://HOST:PORT): one subject per emorig subject, ARKit or MetaHuman CTRL curves.");
}

ULiveLinkSourceFactory::EMenuType UEmoRigSourceFactory::GetMenuType() const
{
	// With the editor module loaded the menu opens a panel to set the port; without it (a
	// runtime-only build) a plain entry adds a source with the default settings.
	return CreationPanelBuilder() ? EMenuType::SubPanel : EMenuType::MenuEntry;
}

TSharedPtr<SWidget> UEmoRigSourceFactory::BuildCreationPanel(FOnLiveLinkSourceCreated OnLiveLinkSourceCreated) const
{
	const FEmoRigCreationPanelBuilder& Builder = CreationPanelBuilder();
	return Builder ? Builder(OnLiveLinkSourceCreated) : TSharedPtr<SWidget>();
}

TSharedPtr<ILiveLinkSource> UEmoRigSourceFactory::CreateSource(const FString& ConnectionString) const
{
	return MakeShared<FEmoRigSource>(FromConnectionString(ConnectionString));
}

FString UEmoRigSourceFactory::ToConnectionString(const FEmoRigConnectionSettings& Settings)
{
	FString Text;
	FEmoRigConnectionSettings::StaticStruct()->ExportText(Text, &Settings, nullptr, nullptr, PPF_None, nullptr);
	return Text;
}

FEmoRigConnectionSettings UEmoRigSourceFactory::FromConnectionString(const FString& ConnectionString)
{
	FEmoRigConnectionSettings Settings;
	if (!ConnectionString.IsEmpty())
	{
		FEmoRigConnectionSettings::StaticStruct()->ImportText(*ConnectionString, &Settings, nullptr, PPF_None, GLog, TEXT("FEmoRigConnectionSettings"));
	}
	return Settings;
}

void UEmoRigSourceFactory::CreateSourceFromSettings(const FEmoRigConnectionSettings& Settings, FOnLiveLinkSourceCreated OnSourceCreated)
{
	OnSourceCreated.ExecuteIfBound(MakeShared<FEmoRigSource>(Settings), ToConnectionString(Settings));
}

void UEmoRigSourceFactory::SetCreationPanelBuilder(FEmoRigCreationPanelBuilder Builder)
{
	CreationPanelBuilder() = MoveTemp(Builder);
}

FEmoRigCreationPanelBuilder& UEmoRigSourceFactory::CreationPanelBuilder()
{
	static FEmoRigCreationPanelBuilder Builder;
	return Builder;
}

#undef LOCTEXT_NAMESPACE
