// Adds "EmoRig Source" to the Live Link window's Source menu, and recreates sources from
// presets or connection strings at runtime. The creation panel itself is editor UI: the
// EmoRigEditor module provides it through SetCreationPanelBuilder, so this runtime module
// needs no editor modules.
#pragma once

#include "CoreMinimal.h"
#include "EmoRigConnectionSettings.h"
#include "LiveLinkSourceFactory.h"
#include "Templates/Function.h"
#include "EmoRigSourceFactory.generated.h"

class SWidget;

/** Builds the creation panel; set by the EmoRigEditor module (kept outside the UCLASS for UHT). */
using FEmoRigCreationPanelBuilder = TFunction<TSharedPtr<SWidget>(ULiveLinkSourceFactory::FOnLiveLinkSourceCreated)>;

UCLASS()
class EMORIG_API UEmoRigSourceFactory : public ULiveLinkSourceFactory
{
	GENERATED_BODY()

public:
	virtual FText GetSourceDisplayName() const override;
	virtual FText GetSourceTooltip() const override;
	virtual EMenuType GetMenuType() const override;
	virtual TSharedPtr<SWidget> BuildCreationPanel(FOnLiveLinkSourceCreated OnLiveLinkSourceCreated) const override;
	virtual TSharedPtr<ILiveLinkSource> CreateSource(const FString& ConnectionString) const override;

	static FString ToConnectionString(const FEmoRigConnectionSettings& Settings);
	static FEmoRigConnectionSettings FromConnectionString(const FString& ConnectionString);

	/** Creates a source and hands it to Live Link (what the panel's Add button does). */
	static void CreateSourceFromSettings(const FEmoRigConnectionSettings& Settings, FOnLiveLinkSourceCreated OnSourceCreated);

	/** Set by the editor module at startup, cleared at shutdown. */
	static void SetCreationPanelBuilder(FEmoRigCreationPanelBuilder Builder);

private:
	static FEmoRigCreationPanelBuilder& CreationPanelBuilder();
};
