// The panel behind Live Link > + Source > EmoRig Source: port, bind address, subject filter,
// and an Add button.
#pragma once

#include "CoreMinimal.h"
#include "EmoRigConnectionSettings.h"
#include "LiveLinkSourceFactory.h"
#include "Widgets/DeclarativeSyntaxSupport.h"
#include "Widgets/SCompoundWidget.h"

class IStructureDetailsView;
class FStructOnScope;

class SEmoRigSourcePanel : public SCompoundWidget
{
public:
	SLATE_BEGIN_ARGS(SEmoRigSourcePanel) {}
		SLATE_ARGUMENT(ULiveLinkSourceFactory::FOnLiveLinkSourceCreated, OnSourceCreated)
	SLATE_END_ARGS()

	void Construct(const FArguments& Args);

private:
	FReply OnAddClicked();

	ULiveLinkSourceFactory::FOnLiveLinkSourceCreated OnSourceCreated;
	TSharedPtr<FStructOnScope> Settings;
	TSharedPtr<IStructureDetailsView> DetailsView;
};
